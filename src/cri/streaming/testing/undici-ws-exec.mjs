// Runs one remotecommand session over Node's own WebSocket client (undici's), an implementation independent of
// berth's: node --experimental-websocket undici-ws-exec.mjs <url> <protocol> <stdin text>
// Sends the text on stdin (channel 0) once the session is up, collects every message until the server closes, and
// prints them as JSON lines [channel, text].
const [url, protocol, input] = process.argv.slice(2);
const ws = new WebSocket(url, [protocol]);
ws.binaryType = 'arraybuffer';
const out = [];
ws.onmessage = (ev) => {
  const b = Buffer.from(ev.data);
  out.push([b[0], b.subarray(1).toString()]);
  if (out.length === 1) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(input)]));
  if (b[0] === 1 && b.length > 1) ws.close(1000);
};
ws.onclose = (ev) => {
  console.log(JSON.stringify({ protocol: ws.protocol, code: ev.code, messages: out }));
};
ws.onerror = (ev) => {
  console.error('websocket error', ev.message ?? ev.type);
  process.exitCode = 1;
};
