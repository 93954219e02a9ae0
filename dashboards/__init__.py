"""The Dash dashboard for planners (to come); the only package that imports Dash."""
