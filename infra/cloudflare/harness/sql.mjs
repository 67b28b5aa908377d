// SQL scripts to statements, for applying migrations through the D1 binding
// (D1 runs one statement per prepared statement; a batch is atomic).

/**
 * Splits a SQL script into statements: `;` ends a statement except inside
 * quotes, comments, and CREATE TRIGGER … END bodies. Comments are dropped.
 */
export function splitSql(script) {
  const statements = [];
  let current = "";
  let i = 0;
  const n = script.length;
  const flush = () => {
    const text = current.trim();
    if (text) statements.push(text);
    current = "";
  };
  while (i < n) {
    const c = script[i];
    if (c === "-" && script[i + 1] === "-") {
      while (i < n && script[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && script[i + 1] === "*") {
      const end = script.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      current += " ";
      continue;
    }
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      while (j < n) {
        if (script[j] === close) {
          if (close !== "]" && script[j + 1] === close) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      current += script.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === ";") {
      const head = current.trim().toUpperCase();
      const isTrigger = /^CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/.test(head);
      if (isTrigger && !/\bEND$/.test(head)) {
        current += c;
        i++;
        continue;
      }
      flush();
      i++;
      continue;
    }
    current += c;
    i++;
  }
  flush();
  return statements;
}
