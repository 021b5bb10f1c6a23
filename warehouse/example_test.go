package warehouse_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"strings"

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

// Faults are injected per endpoint group: here the telemetry ingest answers one 503
// before it recovers, and the warehouse counts the fault it served.
func ExampleServer_InjectFaults() {
	srv, err := warehouse.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: 1})

	post := func() int {
		body := strings.NewReader(`{"uploadTime":0,"items":[],"protoLogs":[]}`)
		req, err := http.NewRequest(http.MethodPost, srv.URL()+"/telemetry-ext", body)
		if err != nil {
			panic(err)
		}
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println(post(), post(), srv.FaultsServed(warehouse.GroupTelemetry))
	// Output: 503 200 1
}
