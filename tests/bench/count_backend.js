/* count_backend.js: an Etsy statsd backend for the bench: keeps the running sum of the
 * counters the daemon flushed, by the first component of their names, and writes it to a file. */
'use strict';
const fs = require('fs');

exports.init = function (startupTime, config, events) {
  const file = config.benchCountFile;
  const sums = {};
  let flushes = 0;
  events.on('flush', function (timestamp, metrics) {
    for (const key in metrics.counters) {
      const first = key.split('.')[0];
      sums[first] = (sums[first] || 0) + metrics.counters[key];
    }
    flushes++;
    const tmp = file + '.tmp';
    fs.writeFileSync(tmp, JSON.stringify({ sums: sums, flushes: flushes }));
    fs.renameSync(tmp, file);
  });
  return true;
};
