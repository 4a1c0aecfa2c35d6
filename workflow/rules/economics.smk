# Value for money: impact estimates and their draws turned into costs.
