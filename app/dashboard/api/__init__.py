"""JSON routes of the dashboard: metric tiles, the mobile summary, the ops stream."""
