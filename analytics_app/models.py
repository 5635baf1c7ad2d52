# analytics_app owns no tables: it reads the other apps' history through selectors.
