-- What the SEN2 return needs that the case record lacks (sex, ethnicity, postcode, UPN or
-- ULN, mediation and tribunal, plan and placement details, cease reason), recorded through
-- PUT /v1/referrals/{id}/sen2. Personal data: held by this service only, never in events.
CREATE TABLE sen2_details (
    case_id uuid PRIMARY KEY REFERENCES cases (id),
    data jsonb NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
