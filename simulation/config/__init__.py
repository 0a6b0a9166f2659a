"""Files in, frozen validated objects out: scenarios, districts, the district generator, YAML reading."""
