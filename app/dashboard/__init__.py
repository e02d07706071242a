"""The dashboard: the overview page, the mobile summary, metric tiles and the ops stream."""
