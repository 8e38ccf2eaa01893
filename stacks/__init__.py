"""Stack settings (the validated `mindie:*` config) and the composition of a stack from them."""
