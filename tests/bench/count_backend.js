/* count_backend.js: an Etsy statsd backend for the bench: keeps the running sum of every
 * counter the daemon flushed (its own statsd.* counters apart) and writes it to a file. */
'use strict';
const fs = require('fs');

exports.init = function (startupTime, config, events) {
  const file = config.benchCountFile;
  let total = 0, received = 0, flushes = 0;
  events.on('flush', function (timestamp, metrics) {
    for (const key in metrics.counters) {
      if (key.startsWith('statsd.')) {
        if (key === 'statsd.metrics_received') received += metrics.counters[key];
        continue;
      }
      total += metrics.counters[key];
    }
    flushes++;
    const tmp = file + '.tmp';
    fs.writeFileSync(tmp, JSON.stringify({ counter_sum: total, metrics_received: received,
                                          flushes: flushes }));
    fs.renameSync(tmp, file);
  });
  return true;
};
