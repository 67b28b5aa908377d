-- Who caused each timeline entry an HTTP command made: `<role>:<token id>`
-- of the caller (an app client or the desk cancelling, the rider accepting,
-- declining, loading, delivering). NULL for the saga's own steps and for
-- every entry written before.
ALTER TABLE order_timeline ADD COLUMN actor TEXT;
