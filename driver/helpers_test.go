package driver_test

import (
	"net"
	"strconv"

	dbsql "github.com/databricks/databricks-sql-go"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// connOptions are the driver's connector options for the warehouse.
func connOptions(srv *warehouse.Server) []dbsql.ConnOption {
	host, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)
	return []dbsql.ConnOption{
		dbsql.WithServerHostname("http://" + host),
		dbsql.WithPort(p),
		dbsql.WithHTTPPath(warehouse.HTTPPath),
		dbsql.WithAccessToken(srv.Token()),
	}
}
