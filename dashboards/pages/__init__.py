"""The dashboard's pages: each has PATH, TITLE, layout(state) and register(app, state)."""
