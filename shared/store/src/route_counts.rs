//! Requests counted per route, kept in SQL (the `request_counts` table):
//! where a platform with no shared counter of its own (Workers) adds the
//! counts each instance gathered.

use std::collections::BTreeMap;

use gasline_core::route_stats::{BUCKETS_MS, RouteKey, Tally, class_named, merge};
use gasline_ports::{SqlStore, Statement, StoreError, Value};

const UPSERT: &str = "INSERT INTO request_counts (method, route, class, count, sum_ms, b0, b1, b2, b3, b4, b5, b6, b7, b8) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
     ON CONFLICT (method, route, class) DO UPDATE SET count = count + excluded.count, \
     sum_ms = sum_ms + excluded.sum_ms, b0 = b0 + excluded.b0, b1 = b1 + excluded.b1, \
     b2 = b2 + excluded.b2, b3 = b3 + excluded.b3, b4 = b4 + excluded.b4, b5 = b5 + excluded.b5, \
     b6 = b6 + excluded.b6, b7 = b7 + excluded.b7, b8 = b8 + excluded.b8";

fn int(n: u64) -> Value {
    Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The statements that add `counts` to the table (one batch).
pub fn add(counts: &BTreeMap<RouteKey, Tally>) -> Vec<Statement> {
    counts
        .iter()
        .map(|(key, tally)| {
            let mut params = vec![
                Value::from(key.method.as_str()),
                Value::from(key.route.as_str()),
                Value::from(key.class),
                int(tally.count),
                int(tally.sum_ms),
            ];
            params.extend(tally.buckets.iter().map(|n| int(*n)));
            Statement::new(UPSERT, params)
        })
        .collect()
}

/// Every total in the table.
pub async fn totals(sql: &impl SqlStore) -> Result<BTreeMap<RouteKey, Tally>, StoreError> {
    let rows = sql
        .query(Statement::new(
            "SELECT method, route, class, count, sum_ms, b0, b1, b2, b3, b4, b5, b6, b7, b8 FROM request_counts",
            Vec::new(),
        ))
        .await?;
    const NUMBERS: [&str; 2 + BUCKETS_MS.len()] =
        ["count", "sum_ms", "b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8"];
    let mut totals = BTreeMap::new();
    for row in &rows {
        let Some(class) = class_named(&row.text("class")?) else {
            continue;
        };
        let numbers = NUMBERS
            .iter()
            .map(|column| Ok(u64::try_from(row.int(column)?).unwrap_or(0)))
            .collect::<Result<Vec<u64>, StoreError>>()?;
        let Some(tally) = Tally::from_stored(&numbers) else {
            continue;
        };
        let key = RouteKey {
            method: row.text("method")?,
            route: row.text("route")?,
            class,
        };
        merge(&mut totals, key, &tally);
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_one_upsert_per_key_with_every_bucket() {
        let mut counts = BTreeMap::new();
        merge(&mut counts, RouteKey::new("GET", "/healthz", 200), &Tally::one(3));
        merge(&mut counts, RouteKey::new("GET", "/healthz", 200), &Tally::one(30));
        merge(&mut counts, RouteKey::new("GET", "/readyz", 503), &Tally::one(3));
        let statements = add(&counts);
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].params.len(), 14);
    }
}
