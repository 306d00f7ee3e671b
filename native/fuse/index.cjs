// Loads the addon built by `node-gyp rebuild` (npm install runs it when libfuse3-dev is present).
'use strict';
module.exports = require('./build/Release/hexz_fuse.node');
