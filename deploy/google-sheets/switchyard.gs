/**
 * Switchyard for Google Sheets: posts every edited row of one tab to the hub, signed with the Standard Webhooks
 * scheme (webhook-id, webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256>"). The hub's google_sheets
 * connector verifies it and reads this payload:
 *   {"type":"row.updated","timestamp":"<ISO 8601>","data":{"spreadsheet_id":"…","sheet":"<tab>","row":<n>,
 *    "values":{"<header>":"<cell as displayed>",…}}}
 * values is the whole row keyed by the header row (row 1), so every event carries the row's full state.
 *
 * Install (see README.md next to this file): Extensions > Apps Script, paste this file, set the script properties
 * SWITCHYARD_URL, SWITCHYARD_SECRET and SWITCHYARD_SHEET, run installTrigger() once and grant access.
 * A simple onEdit(e) cannot call UrlFetchApp: the installable trigger is what makes this work.
 * Edits made through the Sheets API (the hub's own pushes) and by scripts fire no trigger, so they never echo back.
 */

var SWITCHYARD_ATTEMPTS = 3; // a failed POST is retried with the same webhook-id: the hub stores it once

function installTrigger() {
  var ss = SpreadsheetApp.getActive();
  ScriptApp.getProjectTriggers().forEach(function (t) {
    if (t.getHandlerFunction() === 'switchyardOnEdit') ScriptApp.deleteTrigger(t);
  });
  ScriptApp.newTrigger('switchyardOnEdit').forSpreadsheet(ss).onEdit().create();
}

function switchyardOnEdit(e) {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('SWITCHYARD_URL');
  var secret = props.getProperty('SWITCHYARD_SECRET');
  var tab = props.getProperty('SWITCHYARD_SHEET') || 'Sheet1';
  var sheet = e.range.getSheet();
  if (!url || !secret || sheet.getName() !== tab) return;
  var lastCol = sheet.getLastColumn();
  var headers = sheet.getRange(1, 1, 1, lastCol).getDisplayValues()[0];
  // A paste or a fill may cover several rows; row 1 holds the headers and is never sent.
  for (var row = Math.max(e.range.getRow(), 2); row <= e.range.getLastRow(); row++) {
    var cells = sheet.getRange(row, 1, 1, lastCol).getDisplayValues()[0];
    var values = {};
    for (var i = 0; i < headers.length; i++) {
      if (headers[i] !== '') values[headers[i]] = cells[i];
    }
    switchyardSend(url, secret, {
      type: 'row.updated',
      timestamp: new Date().toISOString(),
      data: {spreadsheet_id: sheet.getParent().getId(), sheet: sheet.getName(), row: row, values: values}
    });
  }
}

function switchyardSend(url, secret, payload) {
  var body = Utilities.newBlob(JSON.stringify(payload)).getBytes(); // the exact UTF-8 bytes that are signed
  var id = 'msg_' + Utilities.getUuid().replace(/-/g, '');
  var key = Utilities.base64Decode(secret.replace(/^whsec_/, ''));
  for (var attempt = 1; attempt <= SWITCHYARD_ATTEMPTS; attempt++) {
    var ts = String(Math.floor(Date.now() / 1000));
    var signed = Utilities.newBlob(id + '.' + ts + '.').getBytes().concat(body);
    var mac = Utilities.computeHmacSignature(Utilities.MacAlgorithm.HMAC_SHA_256, signed, key);
    var code = 0, text = '';
    try {
      var res = UrlFetchApp.fetch(url, {
        method: 'post',
        contentType: 'application/json',
        payload: body,
        headers: {'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': 'v1,' + Utilities.base64Encode(mac)},
        muteHttpExceptions: true
      });
      code = res.getResponseCode();
      text = res.getContentText();
    } catch (err) {
      text = String(err);
    }
    if (code >= 200 && code < 300) return;
    // 4xx other than 429 will not get better by retrying (a wrong secret, a payload the hub refuses).
    if (code >= 400 && code < 500 && code !== 429) break;
    Utilities.sleep(1000 * attempt);
  }
  console.warn('switchyard: row not delivered: HTTP ' + code + ' ' + text);
}
