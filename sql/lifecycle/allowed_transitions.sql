-- lifecycle.allowed_transitions: every stage change the lifecycle may make (checked after each run).
delete from lifecycle.allowed_transitions;

insert into lifecycle.allowed_transitions (from_stage, to_stage)
values
    ('cold', 'warm'),
    ('cold', 'hot'),
    ('cold', 'recycled'),
    ('warm', 'hot'),
    ('warm', 'recycled'),
    ('hot', 'sales_qualified'),
    ('hot', 'recycled'),
    ('recycled', 'warm'),
    ('recycled', 'hot'),
    ('cold', 'customer'),
    ('warm', 'customer'),
    ('hot', 'customer'),
    ('sales_qualified', 'customer'),
    ('recycled', 'customer'),
    ('cold', 'disqualified'),
    ('warm', 'disqualified'),
    ('hot', 'disqualified'),
    ('sales_qualified', 'disqualified'),
    ('recycled', 'disqualified');
