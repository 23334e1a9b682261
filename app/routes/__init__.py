"""HTTP routes: thin translations between requests and ``app.service.Service`` calls."""
