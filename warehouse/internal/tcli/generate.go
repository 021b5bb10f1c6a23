// Package tcli is the Go code the Thrift compiler generates from tcli.thrift: the subset of
// TCLIService that the local warehouse serves.
package tcli

//go:generate sh -c "thrift -r --gen go:package_prefix=github.com/dbtelemetry/dbtelemetry/warehouse/internal/,skip_remote -out .. tcli.thrift && rm -f GoUnusedProtection__.go && gofmt -w tcli.go tcli-consts.go"
