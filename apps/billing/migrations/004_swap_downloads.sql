-- profile.swaps.v1's needsDownload: the eIM had the target profile downloaded for the swap (the
-- carrier's download fee). NULL for records without the field: the download is then inferred
-- from the meter's factory profiles.
ALTER TABLE swap_states ADD COLUMN needs_download boolean;
