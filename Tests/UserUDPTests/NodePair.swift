// The two-node fixture (`NodePair`, `waitUntil`) lives in the NodeTestSupport
// target, shared with ATMTests; exported here so every file of this target
// sees it as before, without an import of its own.
@_exported import NodeTestSupport
