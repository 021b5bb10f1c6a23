package driver

// NewBaseTransport is newBaseTransport, for the external tests: the transport that
// mirrors the driver's own pooled one.
var NewBaseTransport = newBaseTransport
