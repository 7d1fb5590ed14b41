// Child process of wakeUpCost() in machine.js: echoes every byte it is sent on a loopback TCP
// connection, and on `report` tells its parent the CPU it used since the previous report.
import net from 'node:net';

let since = process.cpuUsage();
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (data) => socket.write(data));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
});
process.on('message', (message) => {
  if (message === 'report') {
    const used = process.cpuUsage(since);
    since = process.cpuUsage();
    process.send?.({ cpuMs: (used.user + used.system) / 1000 });
  } else if (message === 'stop') {
    server.close();
    process.disconnect();
  }
});
