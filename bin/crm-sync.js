#!/usr/bin/env node
'use strict';
// The compiled CLI; `npm install` builds it (the `prepare` script).
require('../dist/cli/main.js')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
