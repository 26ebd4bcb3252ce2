"""JSON Transformer: query and reshape JSON with JSONata or JMESPath."""
