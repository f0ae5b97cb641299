// The engine; see ARCHITECTURE.md.
