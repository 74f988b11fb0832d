package store

// Entries returns how many keys the in-memory copy records, deletions
// included.
func (s *Store) Entries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
