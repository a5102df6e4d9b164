"""A second, independent implementation of part of capsim's rules (a plain heapq simulator),
and the property test that the two agree exactly on random small scenarios."""
