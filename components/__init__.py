"""ComponentResources of the MindIE deployment; one module per component."""
