package warehouse

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
)

// voidColumns reports which columns of a query's result are a bare NULL in its select
// list: a NULL literal (SELECT NULL, SELECT NULL AS x) or a parameter bound to NULL (the
// driver sends a nil argument as a VOID parameter), which Databricks types as VOID
// (Thrift's NULL_TYPE) and DuckDB as INTEGER. args are the query's bound arguments
// (bindParameters'). It asks DuckDB's parser (json_serialize_sql), and only for a query
// whose text names NULL or that has a nil argument; it answers nil, and the columns keep
// DuckDB's types, for a select list it cannot map to the result's columns one to one (a
// star, a set operation, VALUES) or a query it cannot parse.
func voidColumns(ctx context.Context, conn *sql.Conn, query string, args []any) []bool {
	hasNil := false
	for _, a := range args {
		if named, ok := a.(sql.NamedArg); ok {
			a = named.Value
		}
		hasNil = hasNil || a == nil
	}
	if !hasNil && !strings.Contains(strings.ToUpper(query), "NULL") {
		return nil
	}
	var tree string
	if err := conn.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(CAST($1 AS VARCHAR)) AS VARCHAR)", query).Scan(&tree); err != nil {
		return nil
	}
	return voidsOf([]byte(tree), func(id string) bool { return nilArg(args, id) })
}

// nilArg reports whether the parameter of a select list's identifier ("1" for $1, "name"
// for $name) is bound to NULL among args.
func nilArg(args []any, id string) bool {
	for i, a := range args {
		if named, ok := a.(sql.NamedArg); ok {
			if named.Name == id {
				return named.Value == nil
			}
		} else if strconv.Itoa(i+1) == id {
			return a == nil
		}
	}
	return false
}

// voidsOf reads voidColumns' answer from DuckDB's parse tree of one statement; isNil
// tells whether the parameter of an identifier is bound to NULL.
func voidsOf(tree []byte, isNil func(id string) bool) []bool {
	var parsed struct {
		Error      bool `json:"error"`
		Statements []struct {
			Node struct {
				Type       string `json:"type"`
				SelectList []struct {
					Class      string `json:"class"`
					Identifier string `json:"identifier"`
					Value      *struct {
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
		case e.Class == "CONSTANT" && e.Value != nil && e.Value.IsNull && e.Value.Type.ID == "NULL",
			e.Class == "PARAMETER" && isNil(e.Identifier):
			if voids == nil {
				voids = make([]bool, len(node.SelectList))
			}
			voids[i] = true
		}
	}
	return voids
}
