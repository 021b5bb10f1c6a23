package warehouse

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
)

// voidColumns reports which columns of a query's result are a bare NULL literal in its
// select list (SELECT NULL, SELECT NULL AS x), which Databricks types as VOID (Thrift's
// NULL_TYPE) and DuckDB as INTEGER. It asks DuckDB's parser (json_serialize_sql), and
// only for a query whose text names NULL at all; it answers nil, and the columns keep
// DuckDB's types, for a select list it cannot map to the result's columns one to one
// (a star, a set operation, VALUES) or a query it cannot parse.
func voidColumns(ctx context.Context, conn *sql.Conn, query string) []bool {
	if !strings.Contains(strings.ToUpper(query), "NULL") {
		return nil
	}
	var tree string
	if err := conn.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(CAST($1 AS VARCHAR)) AS VARCHAR)", query).Scan(&tree); err != nil {
		return nil
	}
	return voidsOf([]byte(tree))
}

// voidsOf reads voidColumns' answer from DuckDB's parse tree of one statement.
func voidsOf(tree []byte) []bool {
	var parsed struct {
		Error      bool `json:"error"`
		Statements []struct {
			Node struct {
				Type       string `json:"type"`
				SelectList []struct {
					Class string `json:"class"`
					Value *struct {
						IsNull bool `json:"is_null"`
						Type   struct {
							ID string `json:"id"`
						} `json:"type"`
					} `json:"value"`
				} `json:"select_list"`
			} `json:"node"`
		} `json:"statements"`
	}
	if json.Unmarshal(tree, &parsed) != nil || parsed.Error || len(parsed.Statements) != 1 {
		return nil
	}
	node := parsed.Statements[0].Node
	if node.Type != "SELECT_NODE" {
		return nil
	}
	var voids []bool
	for i, e := range node.SelectList {
		switch {
		case e.Class == "STAR":
			return nil // columns the select list does not name one by one
		case e.Class == "CONSTANT" && e.Value != nil && e.Value.IsNull && e.Value.Type.ID == "NULL":
			if voids == nil {
				voids = make([]bool, len(node.SelectList))
			}
			voids[i] = true
		}
	}
	return voids
}
