package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	s := out.String()
	assert.Contains(t, s, "1000000 rows, sum 499999500000")
	assert.Contains(t, s, "EXTERNAL_LINKS")
	assert.Contains(t, s, "TABLE_OR_VIEW_NOT_FOUND")
	assert.Contains(t, s, "CREATE_SESSION")
	assert.Contains(t, s, "DELETE_SESSION")
	assert.Contains(t, s, "error=not_found")
}
