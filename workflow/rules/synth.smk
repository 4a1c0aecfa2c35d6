# Cooperative-level synthetic control and synthetic DiD (RCC).
