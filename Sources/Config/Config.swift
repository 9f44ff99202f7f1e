// The Config module: rtud's configuration file (TOML) and its model.
//
// Layers, bottom up:
// - TOMLScanner / TOMLNumbers / TOMLParser: TOML text → TOMLTable (positions kept per key).
// - TOMLWriter: values back to TOML text.
// - Units: typed values of the config (ConfigDuration, BitRate; SocketAddress lives in Wire).
// - RtudConfig (+Decode, +Validate, +Render): the model, its defaults, reading
//   it from a TOMLTable, the semantic checks, and printing it.
// Foundation is used only to read the file (this module is not on the data path).
