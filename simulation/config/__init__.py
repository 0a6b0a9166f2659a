"""Files in, frozen validated objects out: scenarios, districts (loader per layer, synthetic generator,
OpenStreetMap importer, S-Pole placement shared by both), the programme, YAML reading."""
