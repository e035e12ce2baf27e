"""REST endpoints, one module per resource. Every view fetches its project through
`webapp.projects.access.project_get_for_user`: outsiders get 404, members without the role 403."""
