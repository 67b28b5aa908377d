//! Matching reads a bounded set of rider candidates per station: the nearest
//! available riders with a fresh position, however many a city has free.

use futures::executor::block_on;
use gasline_core::config::Config;
use gasline_core::geo::GeoPoint;
use gasline_local::demo::add_rider;
use gasline_ports::sql;
use gasline_tests::*;

#[test]
fn the_nearest_fresh_available_riders_are_the_candidates() {
    let world = World::empty(5, NOON_SHANGHAI);
    let station = GeoPoint::new(CENTRE_LAT, CENTRE_LON).unwrap();
    // Forty riders east of the station, 100 m apart, listed far to near so
    // that neither insertion order nor id order is distance order.
    for i in (0..40).rev() {
        #[allow(clippy::cast_precision_loss)]
        let at = GeoPoint::new(CENTRE_LAT, CENTRE_LON + 0.001 * (i as f64 + 1.0)).unwrap();
        add_rider(&world.system, &format!("rd-{:02}", 40 - i), "骑手", at, world.seed());
    }
    // The two nearest are busy or silent for too long; they are not candidates.
    let config = Config::default();
    let now = world.system.now();
    world.query(sql!("UPDATE riders SET status = 'offline' WHERE id = 'rd-40'"));
    world.query(sql!(
        "UPDATE riders SET located_at = ?1 WHERE id = 'rd-39'",
        now - config.rider_location_max_age_ms - 1
    ));
    let found = block_on(gasline_store::riders::available_near(
        &world.system.services.sql,
        &[station],
        config.rider_radius_m,
        now - config.rider_location_max_age_ms,
        5,
    ))
    .expect("the read runs");
    let ids: Vec<&str> = found.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["rd-34", "rd-35", "rd-36", "rd-37", "rd-38"]);
    // Two stations sharing riders list each rider once.
    let next_door = GeoPoint::new(CENTRE_LAT, CENTRE_LON + 0.0001).unwrap();
    let both = block_on(gasline_store::riders::available_near(
        &world.system.services.sql,
        &[station, next_door],
        config.rider_radius_m,
        now - config.rider_location_max_age_ms,
        5,
    ))
    .expect("the read runs");
    assert_eq!(both.len(), 5, "{both:?}");
}
