// The Config module: rtud's configuration file (TOML) and its model.
//
// Layers, bottom up:
// - TOMLScanner / TOMLNumbers / TOMLParser: TOML text → TOMLTable (positions kept per key).
// - TOMLWriter: values back to TOML text.
// - Units: typed values of the config (ConfigDuration, BitRate; SocketAddress lives in Wire).
// - RtudConfig (+Decode, +Validate, +Render): the model, its defaults, reading
//   it from a TOMLTable, the semantic checks, and printing it.
// No Foundation: the file is read with stdio (this module is not on the data path).
