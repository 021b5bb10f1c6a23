package warehouse

// OpenOperations is how many operations the server still keeps.
func (s *Server) OpenOperations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ops)
}

// HeldChunks is how many CloudFetch files the server still keeps.
func (s *Server) HeldChunks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chunks)
}
