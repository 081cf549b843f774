"""Storage: tables, connections and schema migrations."""
