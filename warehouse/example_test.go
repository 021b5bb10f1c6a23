package warehouse_test

import (
	"database/sql"
	"fmt"

	_ "github.com/databricks/databricks-sql-go"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A test starts a warehouse, points the unmodified driver at its DSN, and reads back what
// the warehouse recorded.
func Example() {
	srv, err := warehouse.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	db, err := sql.Open("databricks", srv.DSN())
	if err != nil {
		panic(err)
	}
	defer db.Close()

	var answer int
	if err := db.QueryRow("SELECT ? * 7", 6).Scan(&answer); err != nil {
		panic(err)
	}
	st := srv.Statements()[0]
	fmt.Println(answer, st.State, st.Delivery, st.Parameters)
	// Output: 42 FINISHED INLINE_ARROW 1
}

// Faults are injected per endpoint group: here the telemetry ingest answers three 503s
// before it recovers.
func ExampleServer_InjectFaults() {
	srv, err := warehouse.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: 3})
	fmt.Println(srv.FaultsServed(warehouse.GroupTelemetry))
	// Output: 0
}
