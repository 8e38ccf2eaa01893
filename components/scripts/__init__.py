"""Programs shipped to pods in ConfigMaps (stdlib only; imported by the tests as modules)."""
