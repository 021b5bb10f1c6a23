// Package driver registers "databricks-telemetry", the Databricks SQL driver
// (github.com/databricks/databricks-sql-go) wrapped with telemetry. Change one string:
//
//	import _ "github.com/dbtelemetry/dbtelemetry/driver"
//
//	db, err := sql.Open("databricks-telemetry", dsn) // was sql.Open("databricks", dsn)
//
// Every connection, statement, CloudFetch chunk and error is measured, aggregated per
// statement and exported to the Databricks telemetry service of the DSN's host. Results
// and errors are exactly those of the driver; telemetry never blocks, fails or logs into
// the caller's path. The DSN takes the driver's own telemetry parameters
// (enableTelemetry, telemetry_batch_size, telemetry_flush_interval,
// telemetry_retry_count, telemetry_retry_delay); without enableTelemetry the server's
// feature flag decides. With NewConnector, for sql.OpenDB, the options WithTelemetry,
// WithBatchSize, WithFlushInterval and WithTelemetryConfig set them.
package driver

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// DriverName is the name the driver is registered under.
const DriverName = "databricks-telemetry"

// Driver is the databricks-telemetry driver. It owns the per-host telemetry (Hosts)
// shared by every connector it opens.
type Driver struct {
	hosts *Hosts
}

// registered is the driver registration: the one package-level value.
var registered = &Driver{hosts: NewHosts()}

func init() { sql.Register(DriverName, registered) }

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.DriverContext = (*Driver)(nil)
)

// Open opens one connection; database/sql uses OpenConnector instead. The connection
// owns the connector made for it: closing the connection releases the connector's share
// of its host (see Connector.Close), off the caller's path.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	c, err := openConnector(dsn, d.hosts)
	if err != nil {
		return nil, err
	}
	conn, err := c.Connect(context.Background())
	if oc, ok := conn.(*outerConn); ok && err == nil {
		oc.own = c
		return oc, nil
	}
	go func() { _ = c.Close() }() // the connection failed, or telemetry is off: nothing else holds it
	return conn, err
}

// OpenConnector parses the DSN: our telemetry parameters are validated and removed, the
// rest becomes the Databricks driver's connector options, exactly as the driver itself
// would read them.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	c, err := openConnector(dsn, d.hosts)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// OpenConnector is sql.Open's path for sql.OpenDB: a Connector from a DSN, with more
// options of ours (a logger, hosts, …) applied after the DSN's. Use it when the program
// wants the Connector itself, for its Stats. A Connector serves one sql.DB: the DB's Close
// closes it, and with it the telemetry of any other DB opened on it.
func OpenConnector(dsn string, opts ...Option) (*Connector, error) {
	return openConnector(dsn, registered.hosts, opts...)
}

func openConnector(dsn string, hosts *Hosts, opts ...Option) (*Connector, error) {
	dc, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	cfg.hosts = hosts
	cfg.connOpts = dc.opts
	dc.apply(&cfg)
	cfg.apply(opts)
	return newConnector(cfg, dc)
}

// apply puts what the DSN says about telemetry into the connector's configuration.
func (c *dsnConfig) apply(cfg *config) {
	cfg.enabled = c.EnableTelemetry
	if c.BatchSize > 0 {
		cfg.tel.BatchSize = c.BatchSize
	}
	if c.FlushInterval > 0 {
		cfg.tel.FlushInterval = c.FlushInterval
	}
	if c.RetryCount != nil {
		cfg.tel.RetryCount = *c.RetryCount
	}
	if c.RetryDelay > 0 {
		cfg.tel.RetryDelay = c.RetryDelay
	}
}

// connectionInfo is what connection.open logs say about the connection: no credential,
// no session parameter value.
func (c *dsnConnInfo) connectionInfo() telemetry.ConnectionInfo {
	return telemetry.ConnectionInfo{
		Host:                c.Host,
		Port:                c.Port,
		HTTPPath:            c.HTTPPath,
		AuthType:            c.AuthType,
		AuthMech:            c.AuthType,
		Mode:                "THRIFT",
		EnableArrow:         true,
		EnableDirectResults: true,
		UseCloudFetch:       c.UseCloudFetch,
		SocketTimeout:       c.QueryTimeout,
	}
}
