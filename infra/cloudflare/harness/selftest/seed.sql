INSERT INTO items (id, name) VALUES ('b', 'seeded');
