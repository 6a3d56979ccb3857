"""The environment's dashboard, health alarm and Glue failure notifications."""
