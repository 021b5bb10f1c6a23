package warehouse_test

import (
	"testing"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A nil Option is ignored, as the driver's, the aggregator's and the exporter's are: a
// caller that builds its options conditionally may leave a slot nil.
func TestNewServerIgnoresANilOption(t *testing.T) {
	var opts []warehouse.Option
	opts = append(opts, nil, warehouse.WithToken("dapi-fixed"))
	srv, err := warehouse.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.Token() != "dapi-fixed" {
		t.Fatalf("token %q, want the option's", srv.Token())
	}
}
