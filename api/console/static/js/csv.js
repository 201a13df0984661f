// CSV in and out (RFC 4180: quoted values may hold commas, quotes and line breaks).

/** The rows of a CSV text, each an array of strings. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let value = "";
  let quoted = false;
  let line = 1;
  let quoteLine = 0;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        value += '"';
        i += 1;
      } else if (char === '"') {
        quoted = false;
      } else {
        if (char === "\n") line += 1;
        value += char;
      }
    } else if (char === '"' && value === "") {
      quoted = true;
      quoteLine = line;
    } else if (char === ",") {
      row.push(value);
      value = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i += 1;
      row.push(value);
      rows.push(row);
      row = [];
      value = "";
      line += 1;
    } else {
      value += char;
    }
  }
  if (quoted) throw new Error(`line ${quoteLine}: a quoted value is never closed`);
  if (value !== "" || row.length) {
    row.push(value);
    rows.push(row);
  }
  return rows;
}

/**
 * One CSV value. A value that a spreadsheet would run as a formula (=, +, -, @) gets a
 * leading apostrophe: SMTP replies are written by whoever runs the server.
 */
function cell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A CSV text of a header and rows. */
export function toCsv(header, rows) {
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

/** Offer `text` as a file download. */
export function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = filename;
  anchor.hidden = true;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
