"""Schedule: cron and fixed-interval triggers, polled by the platform on their schedule."""
