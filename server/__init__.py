"""trackkit's tracking server and web UI (the ``server`` extra): a leaf over the core's store
protocol. The core imports it only lazily, when ``trackkit server`` or ``trackkit ui`` runs."""
