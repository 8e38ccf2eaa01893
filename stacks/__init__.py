"""A stack: its validated settings (package `stacks.settings`) and their composition into components
(package `stacks.composition`). Data flows one way: settings → composition → components → domain facts."""
